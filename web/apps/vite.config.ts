/** The ticket server's MCP Apps, one single-file HTML each (a ui:// resource is one document: no
 * separate scripts or styles to fetch), built from the web app's own components.
 *
 * `vite build --config apps/vite.config.ts --mode calendar` builds apps/calendar.html into
 * servers/ticket/ui/, where the ticket server reads it; `--mode host` builds the minimal host the
 * browser tests render the apps in, into apps/dist/ (it is never served). */
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { viteSingleFile } from "vite-plugin-singlefile";

const APPS = ["calendar", "summary"];

export default defineConfig(({ mode }) => {
  if (mode !== "host" && !APPS.includes(mode)) {
    throw new Error(`--mode must be one of ${[...APPS, "host"].join(", ")}, not ${mode}`);
  }
  return {
    // Paths from web/, where npm runs this build; outDir is from root.
    root: "apps",
    plugins: [react(), viteSingleFile({ removeViteModuleLoader: true })],
    build: {
      outDir: mode === "host" ? "dist" : "../../servers/ticket/ui",
      // Each app is its own build into the same folder: emptying it would delete the others.
      emptyOutDir: false,
      rollupOptions: { input: `apps/${mode}.html` },
    },
  };
});
