#!/usr/bin/env node
// npm's prepack: builds dist/ (tools/package-build.ts).
import { join } from "node:path";
import { ROOT, runTypeScript } from "./launch.js";
await runTypeScript(join(ROOT, "tools/package-build.ts"));
