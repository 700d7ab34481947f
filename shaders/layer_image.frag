// layer_image.frag: a far layer's tile as an image: each fragment shows the neuron whose cell it lies in,
// drawn as that neuron's sprite would be (a lit disc of the sprite's diameter around its centre), so that
// the switch from sprites is seamless; below ~1 pixel of pitch the discs overlap and cover the tile.
// Inputs:   v_cell (cell coordinates), v_tile (first neuron, row stride, columns, rows), v_end (one past the
//           layer's last neuron), v_col_px / v_row_px (pixels per column / row step), v_size_px (sprite
//           diameter, pixels), v_depth (window depth of one radius), from layer_image.vert
//           u_levels (one byte per neuron, row-major in a u_levels_shape (width, height) texture: the neuron
//           sprites' own), u_lut (256x1 RGBA colormap; texel 255 holds the NaN colour)
//           u_picking (1: write index + 1 as 24-bit RGB, as neurons.frag does, for the picking pass)
// Shading, depth and picking ids are neurons.frag's.
uniform sampler2D u_levels;
uniform vec2 u_levels_shape;
uniform sampler2D u_lut;
uniform float u_picking;
varying vec2 v_cell;
varying vec4 v_tile;
varying float v_end;
varying vec2 v_col_px;
varying vec2 v_row_px;
varying float v_size_px;
varying float v_depth;

vec2 offset_px(vec2 cell) {  // from the centre of neuron cell (c, r) to this fragment, in pixels
    vec2 d = v_cell - (cell + 0.5);
    return d.x * v_col_px + d.y * v_row_px;
}

void main() {
    float base = floor(v_tile.x + 0.5);
    float stride = floor(v_tile.y + 0.5);
    float last = floor(v_end + 0.5) - 1.0 - base;  // the layer's last neuron, relative to the tile's first
    vec2 cell = clamp(floor(v_cell), vec2(0.0), vec2(v_tile.z, v_tile.w) - 1.0);
    if (cell.y * stride + cell.x > last) {  // an empty cell of a ragged last row: the nearer of its neighbours
        vec2 up = vec2(cell.x, cell.y - 1.0);
        vec2 left = vec2(min(cell.x, last - cell.y * stride), cell.y);
        vec2 du = offset_px(up);
        vec2 dl = offset_px(left);
        cell = (left.x < 0.0 || dot(du, du) < dot(dl, dl)) ? up : left;
    }
    vec2 c = offset_px(cell) / (0.5 * v_size_px);  // neurons.frag's sprite coordinate (x right, y down)
    float r2 = dot(c, c);
    if (r2 > 1.0)
        discard;
    float index = base + cell.y * stride + cell.x;
    float row = floor((index + 0.5) / u_levels_shape.x);
    vec2 texel = vec2(index - row * u_levels_shape.x, row) + 0.5;
    float level = floor(texture2D(u_levels, texel / u_levels_shape).r * 255.0 + 0.5);
    vec3 n = vec3(c.x, -c.y, sqrt(1.0 - r2));
    gl_FragDepth = gl_FragCoord.z - v_depth * n.z;
    if (u_picking > 0.5) {
        float id = index + 1.0;
        float b = floor(id / 65536.0);
        float g = floor((id - b * 65536.0) / 256.0);
        gl_FragColor = vec4(id - b * 65536.0 - g * 256.0, g, b, 255.0) / 255.0;
        return;
    }
    vec3 base_colour = texture2D(u_lut, vec2((level + 0.5) / 256.0, 0.5)).rgb;
    float shade = 0.35 + 0.65 * n.z;
    float highlight = 0.35 * pow(max(dot(n, normalize(vec3(-0.45, 0.45, 1.0))), 0.0), 40.0);
    gl_FragColor = vec4(base_colour * shade + highlight, 1.0);
}
