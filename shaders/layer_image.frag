// layer_image.frag: a far layer's tile as an image, drawn as its neurons' sprites would be: a fragment shows,
// among the neurons of its cell and the 8 around it, the sprite (a lit disc of the sprite's diameter around
// the neuron's projected centre) that covers it nearest to the viewer, as the depth test picks among the
// sprites; so the switch from sprites is seamless. Below ~1 pixel of pitch the discs overlap and cover the
// tile: its activations as an image.
// Inputs:   v_cell (cell coordinates), v_base (the tile's first neuron index, (high, low) 16-bit halves),
//           v_tile (the layer's last neuron relative to the first, row stride, columns, rows), v_col_px / v_row_px (pixels per column / row step),
//           v_step_z (window depth per column / row step), v_size_px (sprite
//           diameter, pixels), v_depth (window depth of one radius), from layer_image.vert
//           u_levels (one byte per neuron, row-major in a u_levels_shape (width, height) texture: the neuron
//           sprites' own), u_lut (256x1 RGBA colormap; texel 255 holds the NaN colour)
//           u_picking (1: write the 32-bit id index + 1 in RGBA, as neurons.frag does, for the picking pass)
// Shading, depth and picking ids are neurons.frag's.
uniform sampler2D u_levels;
uniform vec2 u_levels_shape;
uniform sampler2D u_lut;
uniform float u_picking;
varying vec2 v_cell;
varying vec2 v_base;
varying vec4 v_tile;
varying vec2 v_col_px;
varying vec2 v_row_px;
varying vec2 v_step_z;
varying float v_size_px;
varying float v_depth;

// floor(x / d) for whole numbers 0 <= x < 2^24, d >= 1, exact (as neurons.vert's)
float whole_div(float x, float d) {
    float q = floor((x + 0.5) / d);
    float m = x - q * d;
    return q + step(d, m) - step(m, -0.5);
}

void main() {
    float stride = floor(v_tile.y + 0.5);
    float last = floor(v_tile.x + 0.5);  // the layer's last neuron, relative to the tile's first
    vec2 size = floor(v_tile.zw + 0.5);
    vec2 home = floor(v_cell);
    float best = 2.0;  // the nearest covering sprite's window depth (> any depth: none yet)
    vec2 cell = vec2(0.0);
    vec2 c = vec2(0.0);
    for (int j = -1; j <= 1; j++) {
        for (int i = -1; i <= 1; i++) {
            vec2 k = home + vec2(float(i), float(j));
            if (any(lessThan(k, vec2(0.0))) || any(greaterThanEqual(k, size)) || k.y * stride + k.x > last)
                continue;
            vec2 d = v_cell - (k + 0.5);  // from the neuron's centre to here, in cells
            vec2 ck = (d.x * v_col_px + d.y * v_row_px) * vec2(1.0, -1.0) / (0.5 * v_size_px);  // gl_PointCoord
            float r2 = dot(ck, ck);
            if (r2 > 1.0)
                continue;
            float z = gl_FragCoord.z - dot(d, v_step_z) - v_depth * sqrt(1.0 - r2);  // as neurons.frag writes it
            if (z < best) {
                best = z;
                cell = k;
                c = ck;
            }
        }
    }
    if (best > 1.5)
        discard;
    // index = 65536 high + low; the level texture's width divides 65536 whenever high > 0 (>= 4096 wide)
    float low = floor(v_base.y + 0.5) + cell.y * stride + cell.x;
    float high = floor(v_base.x + 0.5) + whole_div(low, 65536.0);
    low -= (high - floor(v_base.x + 0.5)) * 65536.0;
    float row = whole_div(low, u_levels_shape.x);
    vec2 texel = vec2(low - row * u_levels_shape.x, high * (65536.0 / u_levels_shape.x) + row) + 0.5;
    float level = floor(texture2D(u_levels, texel / u_levels_shape).r * 255.0 + 0.5);
    vec3 n = vec3(c.x, -c.y, sqrt(max(1.0 - dot(c, c), 0.0)));
    gl_FragDepth = best;
    if (u_picking > 0.5) {  // as neurons.frag: id = index + 1 as (high, low) halves, then 4 bytes
        vec2 id = vec2(high, low + 1.0);
        id += vec2(1.0, -65536.0) * step(65536.0, id.y);
        vec2 upper = floor((id + 0.5) / 256.0);
        vec2 lower = id - upper * 256.0;
        gl_FragColor = vec4(lower.y, upper.y, lower.x, 255.0 - upper.x) / 255.0;
        return;
    }
    vec3 base_colour = texture2D(u_lut, vec2((level + 0.5) / 256.0, 0.5)).rgb;
    float shade = 0.35 + 0.65 * n.z;
    float highlight = 0.35 * pow(max(dot(n, normalize(vec3(-0.45, 0.45, 1.0))), 0.0), 40.0);
    gl_FragColor = vec4(base_colour * shade + highlight, 1.0);
}
