#!/usr/bin/env bash
# A stand-in for a Whisper transcription on the simulated box: "loads a
# model", reports ready and progress through gpumgr's status protocol, and
# prints a fake transcript of its input. Real scripts report the same way:
#   echo ready >&"$GPUMGR_STATUS_FD"; echo "progress 0.45" >&"$GPUMGR_STATUS_FD"
input=${1:?usage: demo-transcribe.sh INPUT [SECONDS]}
secs=${2:-5}
say() { [[ -n ${GPUMGR_STATUS_FD:-} ]] && echo "$*" >&"$GPUMGR_STATUS_FD"; return 0; }
sleep 0.5                      # loading the model
say ready
for i in 1 2 3 4 5 6 7 8 9 10; do
  sleep "$(awk -v s="$secs" 'BEGIN { printf "%.2f", s / 10 }')"
  say "progress $(awk -v i="$i" 'BEGIN { printf "%.1f", i / 10 }')"
done
echo "transcript of $(basename "$input") on ${CUDA_VISIBLE_DEVICES:-no GPU}: lorem ipsum"
