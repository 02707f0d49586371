// Verifies one Playlink join token with `jose`, the way a JavaScript game server would.
// Input on stdin (never argv: other local users can read argv):
//   {"jwks_url": "...", "issuer": "...", "audience": "...", "token": "..."}
// Output: the verified claims as JSON on stdout (exit 0), or {"error": code} (exit 1).
import { createRemoteJWKSet, jwtVerify } from "jose";

const REQUIRED = ["iss", "sub", "name", "aud", "srv", "iat", "nbf", "exp", "jti"];

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { jwks_url, issuer, audience, token } = JSON.parse(input);

try {
  const keys = createRemoteJWKSet(new URL(jwks_url));
  const { payload, protectedHeader } = await jwtVerify(token, keys, {
    algorithms: ["ES256"],
    typ: "playlink-join+jwt",
    issuer,
    audience,
    clockTolerance: 5,
    requiredClaims: REQUIRED,
  });
  process.stdout.write(JSON.stringify({ header: protectedHeader, claims: payload }) + "\n");
} catch (error) {
  process.stdout.write(JSON.stringify({ error: error.code || error.name }) + "\n");
  process.exitCode = 1;
}
