"""Writers turn a finished CompileResult into files; nothing else in the package writes output."""
