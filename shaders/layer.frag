// layer.frag: one texel of a cached layer per pixel, premultiplied RGBA, composited "over" the frame
// (blend ONE, ONE_MINUS_SRC_ALPHA).
// Inputs:   u_layer (RGBA texture the size of the framebuffer), u_size (its width and height in pixels)
uniform sampler2D u_layer;
uniform vec2 u_size;

void main() {
    gl_FragColor = texture2D(u_layer, gl_FragCoord.xy / u_size);
}
