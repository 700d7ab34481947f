// edge_bundle.vert: edge bundles, one translucent quad (two triangles) per connection between layers small on
// screen (nn3d.render.edge_bundles); its colour mixes the edges' two colours by the positive share of the
// connection's summed score.
// Inputs:   a_position (vec3, world units), a_positive (float in [0, 1]), a_alpha (float: the bundle's opacity)
//           u_transform (mat4: visual to render, VisPy's row-vector matrix as uploaded), u_pos_color,
//           u_neg_color (RGBA of positive and negative edges, as edges.vert)
// Outputs:  v_color (straight alpha: blended by the GL state, as the edges)
attribute vec3 a_position;
attribute float a_positive;
attribute float a_alpha;
uniform mat4 u_transform;
uniform vec4 u_pos_color;
uniform vec4 u_neg_color;
varying vec4 v_color;

void main() {
    v_color = mix(u_neg_color, u_pos_color, smoothstep(0.3, 0.7, a_positive));  // a clear majority shows its hue
    v_color.a *= a_alpha;
    gl_Position = u_transform * vec4(a_position, 1.0);
}
