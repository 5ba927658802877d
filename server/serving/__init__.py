"""Answering requests from the current model: holding the published version, the recommendation
and similar-paper answers with their caches, and the serving process's memory and threads."""
