// layer.vert: a quad covering the viewport, for compositing a cached layer (see layer.frag).
// Inputs:   a_position (vec2, normalised device coordinates, -1..1)
attribute vec2 a_position;

void main() {
    gl_Position = vec4(a_position, 0.0, 1.0);
}
