// edge_bundle.frag: flat colour from edge_bundle.vert; translucent, blended over the opaque neurons drawn
// before and hidden by those in front of it (depth test, no depth writes: the edges' state).
// Inputs:   v_color (RGBA)
varying vec4 v_color;

void main() {
    if (v_color.a <= 0.0)
        discard;
    gl_FragColor = v_color;
}
