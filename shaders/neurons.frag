// neurons.frag: a point sprite drawn as a lit sphere whose colour comes from the colormap texture.
// Inputs:   v_level (colormap level 0..254, 255 = NaN), v_depth (window-depth of one radius)
//           u_lut (256x1 RGBA colormap; texel 255 holds the NaN colour)
// The sprite's centre pixel has exactly the colormap colour (headlight shading), so tests can read it back.
uniform sampler2D u_lut;
varying float v_level;
varying float v_depth;

void main() {
    vec2 c = 2.0 * gl_PointCoord - 1.0;
    float r2 = dot(c, c);
    if (r2 > 1.0)
        discard;
    vec3 n = vec3(c.x, -c.y, sqrt(1.0 - r2));
    vec3 base = texture2D(u_lut, vec2((v_level + 0.5) / 256.0, 0.5)).rgb;
    float shade = 0.35 + 0.65 * n.z;
    float highlight = 0.35 * pow(max(dot(n, normalize(vec3(-0.45, 0.45, 1.0))), 0.0), 40.0);
    gl_FragColor = vec4(base * shade + highlight, 1.0);
    gl_FragDepth = gl_FragCoord.z - v_depth * n.z;
}
