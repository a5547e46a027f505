#!/usr/bin/env bash
# Everything the GPU goals ask for, in one run on a machine with an NVIDIA GPU:
#   1. the tests marked cuda / tensorrt (they skip on CPU-only machines),
#   2. network-only fps at 1920x1080 -> 3840x2160, FP16, TensorRT and PyTorch (eager and CUDA graphs),
#   3. the whole pipeline on a 1080p clip with a software encoder and with NVENC (where the GPU has one),
#      with each stage alone, so `vs_encoder_alone` answers "is the GPU ever what the pipeline waits for".
# Results land in OUTDIR as text, markdown and JSON, to be copied into docs/performance.md.
#
# Usage: tools/gpu_check.sh CLIP_1080P [OUTDIR]
#   e.g. tools/gpu_check.sh ../shared/data/video/bbb_2500ms.ts gpu-check
set -u
clip=${1:?usage: tools/gpu_check.sh CLIP_1080P [OUTDIR]}
out=${2:-gpu-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."

python - <<'EOF' | tee "$out/machine.txt"
import av, torch
print("gpu:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
print("torch:", torch.__version__, "cuda", torch.version.cuda, "| pyav:", av.__version__)
try:
    import tensorrt
    print("tensorrt:", tensorrt.__version__)
except ImportError:
    print("tensorrt: not installed")
print("nvenc encoders in this FFmpeg:", sorted(c for c in av.codecs_available if c.endswith("_nvenc")))
EOF

VSR_REQUIRE_CUDA=1 python -m pytest -m "cuda or tensorrt" -q -p no:cacheprovider -rs 2>&1 | tee "$out/tests.txt"

{
  python -m tools.bench_engine --device cuda --size 1920x1080 --backend tensorrt torch --model espcn fsrcnn
  python -m tools.bench_engine --device cuda --size 1920x1080 --backend torch --model espcn fsrcnn --cuda-graphs
  python -m tools.bench_engine --device cuda --size 1920x1080 --backend tensorrt torch --model espcn --batch 4
} 2>&1 | tee "$out/engine.md"

for codec in libx264 hevc_nvenc; do
  python -m tools.bench "$clip" --backend auto --device cuda --codec "$codec" --preset medium --skip-hand \
    --repeat 3 --json "$out/pipeline_$codec.json" 2>&1 | tee "$out/pipeline_$codec.txt"
done
