"""Lightning callbacks and the checkpoint-IO plugin of the training recipe (conf/callbacks)."""
