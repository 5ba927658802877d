"""Background and batch work: training and publishing models (and scheduling retrains), and
importing papers and events from files."""
