"""Each base LM's prompts, as the manifest carries them (electron/core/prompt.ts renderPrompt is
the one place the app fills them in; bundle.fixtures.render mirrors it for the golden fixtures).

Slots: {question}, {passage} (the gold paragraph, or the keyword hits joined by passage_separator),
{user} (the filled task template) and {system} inside "chat", the model's own turn format.
"""
from __future__ import annotations

# SmolLM2's ChatML with its own default system prompt. Measured on SQuAD valid (300 questions, seed
# 0, docs/eval.md): two made-up worked examples as earlier chat turns raised gold-passage F1 from 14.9
# to 19.1 but left keyword mode unchanged (12.25 vs 12.20) and broke one of the sample questions
# (Marie Curie's birthplace), so the plain template is its default.
_TURN = "<|im_start|>{role}\n{text}<|im_end|>\n"
_SHORT = "Reply with only the answer, a few words, copied from the passage when you can."
SMOLLM2 = {
    "chat": _TURN.format(role="system", text="{system}")
    + "<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n",
    "system": "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
    "question": "Answer the question. Reply with only the answer, a few words.\n\nQuestion: {question}",
    "gold": "Answer the question using the passage. " + _SHORT + "\n\nPassage: {passage}\n\nQuestion: {question}",
    "keyword": "Answer the question using the passages. " + _SHORT + "\n\nPassage: {passage}\n\nQuestion: {question}",
    "long": {
        "question": "Answer the question in a few sentences.\n\nQuestion: {question}",
        "gold": "Answer the question in a few sentences, using the passage."
        "\n\nPassage: {passage}\n\nQuestion: {question}",
        "keyword": "Answer the question in a few sentences, using only the passages from the user's documents."
        "\n\n{passage}\n\nQuestion: {question}",
    },
    "passage_separator": "\n\n",
    "whitespace": "runs collapsed to one space",
}

# Qwen2.5-Coder-Instruct (0.5B, 1.5B): ChatML as its GGUF's chat template writes it, with the
# template's own default system prompt; the task templates are SmolLM2's.
QWEN2 = {**SMOLLM2, "system": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."}

# Gemma 3 270M here is the pretrained base model (no instruction tuning, no chat template in its
# GGUF): in Gemma's turn format it only echoed the instruction (gold F1 1.3 on 50 valid questions),
# as a plain completion ending in "Answer:" it reads (gold F1 43.3 on the same 50; docs/eval.md).
# So the "chat" template is that completion frame, <bos> first as the GGUF asks (add_bos_token).
_SHORT_G = "Reply with only the answer, a few words."
GEMMA3 = {
    "chat": "<bos>{user}\nAnswer:",
    "system": "",
    "question": "Answer the question. " + _SHORT_G + "\n\nQuestion: {question}",
    "gold": "Answer the question using the passage. " + _SHORT_G + "\n\nPassage: {passage}\n\nQuestion: {question}",
    "keyword": "Answer the question using the passages. " + _SHORT_G + "\n\nPassage: {passage}\n\nQuestion: {question}",
    # Longer answers: told "in a few sentences" and ending in "Answer:", the base model gave the same
    # one-line span as the short style; a "Detailed answer:" frame gives a sentence or two (tried on
    # the three sample documents with llama.cpp). It ends at its first line break (one paragraph;
    # past it the base model starts a new "Question:" of its own).
    "long": {
        "chat": "<bos>{user}\nDetailed answer:",
        "question": "Write a detailed answer of two or three sentences.\n\nQuestion: {question}",
        "gold": "Read the passage and write a detailed answer of two or three sentences.\n\nPassage: {passage}"
                "\n\nQuestion: {question}",
        "keyword": "Read the passages and write a detailed answer of two or three sentences.\n\nPassage: {passage}"
                   "\n\nQuestion: {question}"},
    "passage_separator": "\n\n",
    "whitespace": "runs collapsed to one space",
}
