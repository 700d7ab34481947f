// neurons.frag: a point sprite drawn as a lit sphere whose colour comes from the colormap texture.
// Inputs:   v_level (colormap level 0..254, 255 = NaN), v_depth (window-depth of one radius), v_id (picking id,
//           neuron index + 1, as (high, low) 16-bit halves)
//           u_lut (256x1 RGBA colormap; texel 255 holds the NaN colour)
//           u_picking (1: write the 32-bit id as R + 256 G + 65536 B + 2^24 (255 - A) instead of a colour, for the
//           picking pass: an opaque black background reads 0, no neuron; ids below 2^24 have A = 255)
//           u_ring (0: a lit sphere; r in (0, 1): a flat ring from r to 1 of the sprite's radius, for highlights)
// The sprite's centre pixel has exactly the colormap colour (headlight shading), so tests can read it back.
uniform sampler2D u_lut;
uniform float u_picking;
uniform float u_ring;
varying float v_level;
varying float v_depth;
varying vec2 v_id;

void main() {
    vec2 c = 2.0 * gl_PointCoord - 1.0;
    float r2 = dot(c, c);
    if (r2 > 1.0)
        discard;
    vec3 base = texture2D(u_lut, vec2((v_level + 0.5) / 256.0, 0.5)).rgb;
    if (u_ring > 0.0) {
        if (r2 < u_ring * u_ring)
            discard;
        gl_FragColor = vec4(base, 1.0);
        gl_FragDepth = gl_FragCoord.z;
        return;
    }
    vec3 n = vec3(c.x, -c.y, sqrt(1.0 - r2));
    gl_FragDepth = gl_FragCoord.z - v_depth * n.z;
    if (u_picking > 0.5) {
        vec2 id = floor(v_id + 0.5);
        vec2 upper = floor((id + 0.5) / 256.0);  // (A's byte, G), the lower bytes being (B, R)
        vec2 lower = id - upper * 256.0;
        gl_FragColor = vec4(lower.y, upper.y, lower.x, 255.0 - upper.x) / 255.0;
        return;
    }
    float shade = 0.35 + 0.65 * n.z;
    float highlight = 0.35 * pow(max(dot(n, normalize(vec3(-0.45, 0.45, 1.0))), 0.0), 40.0);
    gl_FragColor = vec4(base * shade + highlight, 1.0);
}
