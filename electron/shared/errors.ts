// Typed errors with stable codes: thrown inside a process, sent across IPC as {ok: false, error}.

export type ErrorCode =
  | "BUNDLE_NOT_FOUND"
  | "BUNDLE_INVALID"
  | "BUNDLE_UNSUPPORTED_VERSION"
  | "BUNDLE_HASH_MISMATCH"
  | "MEMORY_UNAVAILABLE"
  | "ENCODER_UNAVAILABLE"
  | "INVALID_ARGUMENT"
  | "ABORTED"
  | "ENGINE_ERROR"
  | "VAULT_NOT_FOUND"
  | "VAULT_EXISTS"
  | "VAULT_CORRUPT"
  | "VAULT_TOO_NEW"
  | "DOCUMENT_NOT_FOUND"
  | "UNSUPPORTED_FILE"
  | "EXTRACTION_FAILED"
  | "FILE_TOO_LARGE"
  | "PATH_OUTSIDE"
  | "IO_ERROR"
  | "UPDATE_NOT_READY"
  | "UPDATES_UNSUPPORTED"
  | "DESKTOP_ONLY"
  | "MODEL_NOT_BUILT"
  | "BUILD_UNAVAILABLE"
  | "BUILD_RUNNING"
  | "PROBE_FAILED";

export class AppError extends Error {
  override readonly name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}
