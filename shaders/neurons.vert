// neurons.vert: one point sprite per neuron, sized in world units, shaded as a sphere by neurons.frag.
// A neuron's position is not stored: it is computed from its index and its layer's placement row (the tiling
// of nn3d.layout.placement, as place_numpy computes it), so the GPU holds one level byte per neuron.
// Neurons are drawn in chunks, one draw each (at most one layer per chunk); a_local numbers the neurons of a
// chunk and every chunk-sized quantity is small, so float arithmetic stays exact at any neuron count.
// Inputs:   a_local (float 0, 1, 2, ...: the neuron's place in the draw's chunk; a shared constant buffer)
//           a_position (vec3, world units: only with EXPLICIT_POSITIONS, for the few highlight rings)
//           u_layer (mat4, the chunk's layer: [0] rows, cols, band, n_bands; [1] tile_cols, stack, pitch;
//           [2] first neuron's centre x, y, z; [3] tile steps dy, dz (side by side), dx (stacked))
//           u_draw (mat4, the chunk: [0] its first neuron's tile row-block a, row r, column c in the layer;
//           [1] its first level texel (column, row), its first picking id (high 16 bits, low 16 bits))
//           u_levels (one byte per neuron, colormap level 0..254, 255 = NaN, row-major in a u_levels_shape
//           (width, height) texture: the only per-frame upload)
//           u_radius (sphere radius, world units), u_min_px (smallest diameter in pixels: far neurons stay visible)
// Outputs:  v_level (level, to the fragment shader's colormap lookup), v_depth (window-depth of one radius, for
//           depth-correct sprites), v_id (picking id = index + 1 as (high, low) 16-bit halves)
// Hooks:    $visual_to_framebuffer, $framebuffer_to_visual, $framebuffer_to_render (VisPy transforms)
attribute float a_local;
uniform mat4 u_layer;
uniform mat4 u_draw;
uniform sampler2D u_levels;
uniform vec2 u_levels_shape;
uniform float u_radius;
uniform float u_min_px;
varying float v_level;
varying float v_depth;
varying vec2 v_id;

// floor(x / d) for whole numbers 0 <= x < 2^24, d >= 1: a division, then one exact step of correction (GPU
// division may be a few ulps off, which near a multiple of d would pick the wrong quotient)
float whole_div(float x, float d) {
    float q = floor((x + 0.5) / d);
    float m = x - q * d;
    return q + step(d, m) - step(m, -0.5);
}

#ifdef EXPLICIT_POSITIONS
attribute vec3 a_position;
vec3 neuron_position() {
    return a_position;
}
#else
vec3 neuron_position() {
    float rows = u_layer[0][0], cols = u_layer[0][1], band = u_layer[0][2], n_bands = u_layer[0][3];
    float c = u_draw[0][2] + a_local;
    float q = whole_div(c, cols);
    c -= q * cols;
    float r = u_draw[0][1] + q;
    float a = whole_div(r, rows);
    r -= a * rows;
    a += u_draw[0][0];
    float b = whole_div(c, band);
    float cc = c - b * band;
    float t = a * n_bands + b;
    float s = u_layer[1][2];
    vec3 origin = u_layer[2].xyz;
    if (u_layer[1][1] > 0.5)  // stacked: tiles one behind the other along +x
        return origin + vec3(t * u_layer[3][2], cc * s, -r * s);
    float ty = whole_div(t, u_layer[1][0]);
    float tx = t - ty * u_layer[1][0];
    return origin + vec3(0.0, tx * u_layer[3][0] + cc * s, -(ty * u_layer[3][1] + r * s));
}
#endif

void main() {
    vec3 position = neuron_position();
    vec4 fb = $visual_to_framebuffer(vec4(position, 1.0));
    // Transforms are linear in homogeneous coordinates: map a point 100 framebuffer pixels to the right, at
    // the same depth, back into the visual to learn how many pixels one world unit covers here.
    vec4 right = $framebuffer_to_visual(fb + vec4(100.0 * fb.w, 0.0, 0.0, 0.0));
    float px_per_unit = 100.0 / length(right.xyz / right.w - position);
    // Likewise one radius towards the viewer, in window depth (half the NDC depth range).
    vec4 near = $framebuffer_to_visual(fb - vec4(0.0, 0.0, 0.01 * fb.w, 0.0));
    vec3 towards = normalize(near.xyz / near.w - position);
    vec4 front = $visual_to_framebuffer(vec4(position + towards * u_radius, 1.0));
    v_depth = 0.5 * abs(fb.z / fb.w - front.z / front.w);

    float col = u_draw[1][0] + a_local;
    float row = whole_div(col, u_levels_shape.x);
    vec2 texel = vec2(col - row * u_levels_shape.x, u_draw[1][1] + row) + 0.5;
    v_level = floor(texture2D(u_levels, texel / u_levels_shape).r * 255.0 + 0.5);
    float low = u_draw[1][3] + a_local;
    float high = whole_div(low, 65536.0);
    v_id = vec2(u_draw[1][2] + high, low - high * 65536.0);
    gl_PointSize = max(2.0 * u_radius * px_per_unit, u_min_px);
    gl_Position = $framebuffer_to_render(fb);
}
