"""pytest plugin entry point for gradprops (kept outside the package so loading it imports no torch)."""
