// layer_image.vert: one corner of a far layer's tile quad (two triangles per tile), see layer_image.frag.
// Inputs:   a_position (vec3, world units; the quad lies in the layer's y-z plane, one cell of margin around
//           the tile), a_cell (vec2: cell coordinates, neuron (r, c)'s centre at (c + 0.5, r + 0.5)),
//           a_base (vec2: global index of neuron (0, 0) as (high, low) 16-bit halves),
//           a_tile (vec4: the layer's last neuron relative to neuron (0, 0), row stride, the tile's columns,
//           its rows), a_pitch (neuron spacing, world units; columns along +y,
//           rows along -z)
//           u_radius (sprite sphere radius, world units), u_min_px (smallest sprite diameter, pixels): the
//           neuron sprites' own, so that the image draws the discs the sprites would
// Outputs:  v_cell, v_base, v_tile (as given), v_col_px and v_row_px (framebuffer pixels of one column and one
//           row step here), v_step_z (window depth change of one column step, one row step), v_size_px (a sprite's diameter in pixels, as neurons.vert sizes it), v_depth
//           (window depth of one radius, for sphere depth as the sprites write it)
// Hooks:    $visual_to_framebuffer, $framebuffer_to_visual, $framebuffer_to_render (VisPy transforms)
attribute vec3 a_position;
attribute vec2 a_cell;
attribute vec2 a_base;
attribute vec4 a_tile;
attribute float a_pitch;
uniform float u_radius;
uniform float u_min_px;
varying vec2 v_cell;
varying vec2 v_base;
varying vec4 v_tile;
varying vec2 v_col_px;
varying vec2 v_row_px;
varying vec2 v_step_z;
varying float v_size_px;
varying float v_depth;

vec3 screen(vec3 p) {  // framebuffer x, y and window depth (half the NDC depth)
    vec4 q = $visual_to_framebuffer(vec4(p, 1.0));
    return vec3(q.xy, 0.5 * q.z) / q.w;
}

void main() {
    vec4 fb = $visual_to_framebuffer(vec4(a_position, 1.0));
    vec3 here = screen(a_position);
    vec3 col = screen(a_position + vec3(0.0, a_pitch, 0.0)) - here;
    vec3 row = screen(a_position - vec3(0.0, 0.0, a_pitch)) - here;
    v_col_px = col.xy;
    v_row_px = row.xy;
    v_step_z = vec2(col.z, row.z);
    // as neurons.vert: world units per pixel from a point 100 pixels to the right, at the same depth
    vec4 right = $framebuffer_to_visual(fb + vec4(100.0 * fb.w, 0.0, 0.0, 0.0));
    float px_per_unit = 100.0 / length(right.xyz / right.w - a_position);
    v_size_px = max(2.0 * u_radius * px_per_unit, u_min_px);
    vec4 near = $framebuffer_to_visual(fb - vec4(0.0, 0.0, 0.01 * fb.w, 0.0));
    vec3 towards = normalize(near.xyz / near.w - a_position);
    vec4 front = $visual_to_framebuffer(vec4(a_position + towards * u_radius, 1.0));
    v_depth = 0.5 * abs(fb.z / fb.w - front.z / front.w);
    v_cell = a_cell;
    v_base = a_base;
    v_tile = a_tile;
    gl_Position = $framebuffer_to_render(fb);
}
