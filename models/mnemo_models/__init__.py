"""Mnemo's model pipeline: tokenizer, GPT-2 base LM, MAC networks, ONNX bundle export, evaluation."""
