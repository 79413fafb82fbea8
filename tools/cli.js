#!/usr/bin/env node
// Entry of the `uniwasm` command.
import { join } from "node:path";
import { ROOT, runTypeScript } from "./launch.js";
await runTypeScript(join(ROOT, "tools/cli.ts"));
