import { transform } from "esbuild";
import { defineConfig, type Plugin } from "vitest/config";

// Vitest's own transform (oxc) leaves TC39 decorators in place and Node cannot run them, so
// esbuild lowers them first. Files named `*.legacy.*` use TypeScript's experimentalDecorators,
// the other flavour users have.
function lowerDecorators(): Plugin {
  return {
    name: "lower-decorators",
    enforce: "pre",
    async transform(code, id) {
      if (!/\.tsx?$/.test(id) || id.includes("/node_modules/") || !code.includes("@")) return null;
      const result = await transform(code, {
        loader: id.endsWith(".tsx") ? "tsx" : "ts",
        format: "esm",
        target: "es2022",
        sourcemap: true,
        sourcefile: id,
        tsconfigRaw: {
          compilerOptions: {
            experimentalDecorators: id.includes(".legacy."),
            jsx: "react-jsx",
            jsxImportSource: "hono/jsx",
            verbatimModuleSyntax: true,
          },
        },
      });
      return { code: result.code, map: result.map };
    },
  };
}

export default defineConfig({
  plugins: [lowerDecorators()],
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    testTimeout: 20_000,
  },
});
