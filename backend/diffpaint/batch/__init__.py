"""Many pictures and moving pictures: batches of images and image sequences (frame to frame warm starts),
run in-process or as Ray tasks."""
