// Typed errors with stable codes: thrown inside a process, sent across IPC as {ok: false, error}.

export type ErrorCode =
  | "BUNDLE_NOT_FOUND"
  | "BUNDLE_INVALID"
  | "BUNDLE_UNSUPPORTED_VERSION"
  | "BUNDLE_HASH_MISMATCH"
  | "INVALID_ARGUMENT"
  | "ABORTED"
  | "ENGINE_ERROR";

export class AppError extends Error {
  override readonly name = "AppError";
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}
