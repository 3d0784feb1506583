// persistSession() without a `store` on Workers: refused when the Worker starts.
import { persistSession } from "../../src/workerd.js";

persistSession({ secret: "a-secret-of-at-least-32-characters!" });

export default { fetch: () => new Response("started") };
