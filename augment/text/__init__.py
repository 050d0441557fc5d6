"""The text generator: a small pretrained causal LM, LoRA-tuned to write the text columns of a row."""
