// edges.frag: flat colour from edges.vert; translucent, blended over the opaque neurons drawn before.
// Inputs:   v_color (RGBA)
varying vec4 v_color;

void main() {
    if (v_color.a <= 0.0)
        discard;
    gl_FragColor = v_color;
}
