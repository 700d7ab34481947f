// edges.vert: connections as line segments, two vertices per edge, alpha following |weight| ** u_fade
// (weak edges fade out faster than linearly, so that many overlapping ones read as density, not a slab).
// Inputs:   a_position (vec3, world units), a_weight (float in [-1, 1]: sign of the weight times its strength)
//           u_pos_color, u_neg_color (RGBA for positive and negative weights), u_alpha (overall opacity),
//           u_fade (exponent of the strength in the alpha), u_min_strength (edges weaker than this are not drawn: the moving view's level of detail)
// Outputs:  v_color (premultiplied by nothing: alpha is blended by the GL state)
// Hooks:    $transform (visual to render)
attribute vec3 a_position;
attribute float a_weight;
uniform vec4 u_pos_color;
uniform vec4 u_neg_color;
uniform float u_alpha;
uniform float u_min_strength;
uniform float u_fade;
varying vec4 v_color;

void main() {
    v_color = a_weight >= 0.0 ? u_pos_color : u_neg_color;
    v_color.a *= u_alpha * pow(abs(a_weight), u_fade);
    gl_Position = $transform(vec4(a_position, 1.0));
    if (abs(a_weight) < u_min_strength)
        gl_Position = vec4(0.0, 0.0, 2.0, 1.0);  // beyond the far plane: both ends, so the line is clipped away
}
