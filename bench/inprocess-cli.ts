// W3 and W4 of the build at DIST (an index.js), in a process of their own, as JSON on stdout:
// `npm run bench` with BASELINE measures an earlier build beside this one.
import { manyWrites, stateSizes } from "./inprocess.js";

const w3 = await manyWrites(Number(process.env.W3_RUNS ?? 200));
const w4 = await stateSizes(Number(process.env.W4_RUNS ?? 60));
console.log(JSON.stringify({ w3, w4 }));
