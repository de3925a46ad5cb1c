"""Canvas grain: the shipped textures (`textures`, free of torch) and the bare canvas and grain fit (`fit`)."""
