"""Make a tiny Llama model and LoRA adapters for it, locally, in seconds, with no download.

    <vllm env python> tools/vllm/tiny_model.py base  --out DIR
    <vllm env python> tools/vllm/tiny_model.py adapter --base DIR --out DIR --seed N [--rank R]

The real-vLLM tests and `make bench-lora` need a model vLLM can load on a CPU and adapters
whose effect is visible in the output. Real checkpoints cannot be fetched here, so:

* base: a 2-layer Llama (hidden 256, 4 heads of 64, 2 KV heads) with seeded random weights
  and a byte-level BPE tokenizer trained with `tokenizers` on tools/vllm/corpus.txt, plus a
  minimal chat template so /v1/chat/completions works. Same inputs, same files.
* adapter: a PEFT LoRA on q/k/v/o with ``init_lora_weights=False`` (random, non-zero B), so
  each seed steers greedy decoding somewhere else; saved as adapter_config.json +
  adapter_model.safetensors exactly as PEFT writes them.

Runs in the vLLM environment (tools/vllm/install.sh), which has torch, transformers,
tokenizers and peft.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.txt"

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<s>", "</s>", "<pad>"]


def make_base(out: Path, seed: int = 0) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train([str(CORPUS)], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=fast.vocab_size if len(fast) <= fast.vocab_size else len(fast),
        hidden_size=256, intermediate_size=512, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=64,
        max_position_embeddings=4096, bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False, torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config)
    # Wider weights than the default init, so that greedy decoding does not collapse to one token.
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.normal_(0.0, 0.08)
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)


def make_adapter(base: Path, out: Path, seed: int, rank: int = 8,
                 base_name_or_path: str | None = None) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, init_lora_weights=False,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.5)
    out.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(out, safe_serialization=True)
    config_path = out / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base_name_or_path or str(base)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    base = sub.add_parser("base")
    base.add_argument("--out", type=Path, required=True)
    adapter = sub.add_parser("adapter")
    adapter.add_argument("--base", type=Path, required=True)
    adapter.add_argument("--out", type=Path, required=True)
    adapter.add_argument("--seed", type=int, required=True)
    adapter.add_argument("--rank", type=int, default=8)
    adapter.add_argument("--base-name-or-path", help="value of base_model_name_or_path (default: --base)")
    args = parser.parse_args()
    if args.what == "base":
        make_base(args.out)
    else:
        make_adapter(args.base, args.out, args.seed, args.rank, args.base_name_or_path)


if __name__ == "__main__":
    main()
