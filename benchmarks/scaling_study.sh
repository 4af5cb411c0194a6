#!/usr/bin/env bash
# The README's scale result ("Does homogenization grow with scale?"), a CPU-sized ladder:
# BERT backbones of three sizes (2x128, 4x256, 4x512), 2 pretraining seeds each, 150 masked-LM
# steps on WikiText-2, each fine-tuned with 3 seeds on 4,000 SST-2 sentences (3 epochs, lr 2e-4;
# 1e-4 for the 4x512 backbones, which stay at the majority class at 2e-4);
# and the CNN-LSTM from scratch on 2%, 8% and 32% of SST-2's training split (4 epochs), 3 seeds each. Reports in
# <out>/report_sizes and <out>/report_data_size.
#   bash benchmarks/scaling_study.sh logs/scaling_study
set -euo pipefail
out="${1:-logs/scaling_study}"
python scripts/train.py -m experiment=scaling_study hydra.sweep.dir="$out" \
  'hydra.sweeper.sizes=[tiny,mini,small]' hydra.sweeper.pretrain_seeds=2 hydra.sweeper.seeds=3 \
  'hydra.sweeper.fractions=[0.02,0.08,0.32]' \
  'hydra.sweeper.pretrain=["data=wikitext2","model=bert_pretrain","data.block_size=64","trainer.max_steps=150","trainer.max_epochs=1","trainer.val_check_interval=50"]' \
  'hydra.sweeper.finetune=["data=sst2","model=bert","data.max_train_examples=4000","data.max_length=64","trainer.max_epochs=3","model.optimizer.lr=2e-4"]' \
  'hydra.sweeper.finetune_by_size={small: ["model.optimizer.lr=1e-4"]}' \
  'hydra.sweeper.scratch=["data=sst2","model=cnn_lstm","trainer.max_epochs=4"]' \
  callbacks.progress_bar=null trainer.enable_progress_bar=false
