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
