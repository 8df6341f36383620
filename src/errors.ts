// Errors that say what went wrong and where: a file, a config field or a CLI flag.

export class StreamfitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A file or folder that is missing, unreadable or malformed. */
export class DataError extends StreamfitError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** A config value that does not fit its schema. */
export class ConfigError extends StreamfitError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`config field '${field}': ${reason}`);
  }
}

/** A command-line flag that is unknown, missing or has a bad value. */
export class FlagError extends StreamfitError {
  constructor(
    readonly flag: string,
    readonly reason: string,
  ) {
    super(`flag ${flag}: ${reason}`);
  }
}

/** `--resume` on a folder that holds no run to continue (no config.json, or no checkpoint). */
export class NothingToResume extends StreamfitError {
  constructor(
    readonly runDir: string,
    readonly reason: string,
  ) {
    super(`nothing to resume in ${runDir}: ${reason}`);
  }
}

/** A stage option out of range, caught when the stage is made (p-queue's wording: Expected `x` to be …, got `v`). */
export class OptionError extends StreamfitError {
  constructor(
    readonly stage: string,
    readonly option: string,
    readonly expected: string,
    readonly value: unknown,
  ) {
    super(`${stage}: Expected \`${option}\` to be ${expected}, got \`${describeValue(value)}\` (${typeof value})`);
  }
}

/**
 * The machine failed, not the data (too many open files, no memory, no permission, an I/O error): the run stops with one
 * line instead of quarantining sample after sample.
 */
export class SystemError extends StreamfitError {
  constructor(
    readonly file: string,
    readonly code: string,
    readonly reason: string,
  ) {
    super(`${file}: ${code}: ${reason} (a problem of the machine, not of this image: the run stops)`);
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
