// Where the CLI finds things that ship with the repository.
import path from "node:path";

export const DEFAULT_BUNDLE = path.resolve(import.meta.dirname, "../../models/bundles/default");
