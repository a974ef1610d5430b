"""The Qt front end: a thin layer over the engine in `workbench/`."""
