// Types of launch.js (plain JavaScript: it runs before any TypeScript can).
/** The checkout's or the installed package's root folder. */
export const ROOT: string;
/** Bundles `entry` (a .ts file) with esbuild and imports it. */
export function runTypeScript(entry: string): Promise<void>;
