#!/usr/bin/env node
// Runs bench/sched.ts under plain Node (see tools/launch.js).
import { join } from "node:path";
import { ROOT, runTypeScript } from "../tools/launch.js";
await runTypeScript(join(ROOT, "bench/sched.ts"));
