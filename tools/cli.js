#!/usr/bin/env node
// Entry of the `uniwasm` command: loads the TypeScript CLI through tsx.
import { register } from "tsx/esm/api";
register();
await import("./cli.ts");
