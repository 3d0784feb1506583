import { FileStore } from "../stores/file.js";
import { setDefaultStore } from "./default-store.js";

// Imported by the Node entry only (index.ts): the Workers entry must not load `node:fs`.
setDefaultStore(() => new FileStore());
