// neurons.vert: one point sprite per neuron, sized in world units, shaded as a sphere by neurons.frag.
// Inputs:   a_position (vec3, world units), a_index (float: the neuron's global index, exact below 2^24)
//           u_levels (one byte per neuron, colormap level 0..254, 255 = NaN, row-major in a u_levels_shape
//           (width, height) texture: the only per-frame upload)
//           u_radius (sphere radius, world units), u_min_px (smallest diameter in pixels: far neurons stay visible)
// Outputs:  v_level (level, to the fragment shader's colormap lookup), v_depth (window-depth of one radius, for
//           depth-correct sprites), v_index (a_index, for the picking pass)
// Hooks:    $visual_to_framebuffer, $framebuffer_to_visual, $framebuffer_to_render (VisPy transforms)
attribute vec3 a_position;
attribute float a_index;
uniform sampler2D u_levels;
uniform vec2 u_levels_shape;
uniform float u_radius;
uniform float u_min_px;
varying float v_level;
varying float v_depth;
varying float v_index;

void main() {
    vec4 fb = $visual_to_framebuffer(vec4(a_position, 1.0));
    // Transforms are linear in homogeneous coordinates: map a point 100 framebuffer pixels to the right, at
    // the same depth, back into the visual to learn how many pixels one world unit covers here.
    vec4 right = $framebuffer_to_visual(fb + vec4(100.0 * fb.w, 0.0, 0.0, 0.0));
    float px_per_unit = 100.0 / length(right.xyz / right.w - a_position);
    // Likewise one radius towards the viewer, in window depth (half the NDC depth range).
    vec4 near = $framebuffer_to_visual(fb - vec4(0.0, 0.0, 0.01 * fb.w, 0.0));
    vec3 towards = normalize(near.xyz / near.w - a_position);
    vec4 front = $visual_to_framebuffer(vec4(a_position + towards * u_radius, 1.0));
    v_depth = 0.5 * abs(fb.z / fb.w - front.z / front.w);

    float row = floor((a_index + 0.5) / u_levels_shape.x);
    vec2 texel = vec2(a_index - row * u_levels_shape.x, row) + 0.5;
    v_index = a_index;
    v_level = floor(texture2D(u_levels, texel / u_levels_shape).r * 255.0 + 0.5);
    gl_PointSize = max(2.0 * u_radius * px_per_unit, u_min_px);
    gl_Position = $framebuffer_to_render(fb);
}
