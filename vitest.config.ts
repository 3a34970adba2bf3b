import { defineConfig } from "vitest/config";
import projects from "./vitest.workspace.ts";

export default defineConfig({
  test: {
    projects,
    // Logs (including DEBUG=berth:* output) are shown for failing tests only.
    silent: "passed-only",
    reporters: ["default"],
  },
});
