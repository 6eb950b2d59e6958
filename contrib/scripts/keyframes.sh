#!/usr/bin/env bash
# Keyframe extraction with ffmpeg, as a gpumgr script task: writes the
# video's keyframes (I-frames by default; one frame every N seconds, or the
# scene changes, on request) as numbered images in a folder, with an index
# of their timestamps, and speaks gpumgr's status protocol (docs/scripts.md):
# `ready` once the input is probed, `progress F` as ffmpeg decodes.
#
#   keyframes.sh --input VIDEO --output-dir DIR [--every SEC | --scene T]
#                [--format jpg|png] [--width PX] [--hwaccel NAME]
#
# Writes DIR/frame-00001.jpg ... and DIR/keyframes.tsv (file, time in
# seconds), replacing the frame-* images and index of an earlier run in DIR.
# Exit: 0 done, 1 ffmpeg failed or found no frame, 2 bad arguments or an
# input that is not a video, 127 ffmpeg/ffprobe missing (apt-get install
# ffmpeg). Runs on the CPU; `--hwaccel cuda` decodes on the GPU gpumgr gave
# it (CUDA_VISIBLE_DEVICES) where the ffmpeg build and the driver allow.
set -uo pipefail

me=${0##*/}
usage() {
	sed -n 's/^#   //p' "$0" >&2
	echo "$me: $*" >&2
	exit 2
}
# status LINE: one protocol line to gpumgr, when run by it.
status() {
	if [[ -n ${GPUMGR_STATUS_FD:-} ]]; then echo "$*" >&"$GPUMGR_STATUS_FD"; fi
	return 0
}

input= outdir= every= scene= format=jpg width= hwaccel=
while (($#)); do
	case $1 in
	--input | --output-dir | --every | --scene | --format | --width | --hwaccel)
		(($# >= 2)) || usage "$1 needs a value"
		case $1 in
		--input) input=$2 ;;
		--output-dir) outdir=$2 ;;
		--every) every=$2 ;;
		--scene) scene=$2 ;;
		--format) format=$2 ;;
		--width) width=$2 ;;
		--hwaccel) hwaccel=$2 ;;
		esac
		shift 2
		;;
	-h | --help) sed -n 's/^#   //p' "$0"; exit 0 ;;
	*) usage "unknown argument '$1'" ;;
	esac
done

[[ -n $input ]] || usage "--input is required"
[[ -n $outdir ]] || usage "--output-dir is required"
[[ -f $input && -r $input ]] || usage "--input $input: no such readable file"
[[ -z $every || -z $scene ]] || usage "--every and --scene exclude each other"
num='^[0-9]+([.][0-9]+)?$'
[[ -z $every || ($every =~ $num && $every != 0 && $every != 0.0) ]] ||
	usage "--every $every: want a positive number of seconds"
[[ -z $scene || ($scene =~ $num && $(awk -v s="$scene" 'BEGIN { print (s > 0 && s < 1) }') == 1) ]] ||
	usage "--scene $scene: want a score between 0 and 1 (e.g. 0.3)"
[[ $format == jpg || $format == png ]] || usage "--format $format: want jpg or png"
[[ -z $width || $width =~ ^[1-9][0-9]*$ ]] || usage "--width $width: want a positive number of pixels"
for tool in ffmpeg ffprobe; do
	command -v "$tool" >/dev/null ||
		{ echo "$me: $tool not found in PATH (Debian: apt-get install ffmpeg)" >&2; exit 127; }
done

# The input must hold a video stream; its duration turns ffmpeg's position
# into a fraction (unknown for some streams: then no progress until the end).
probe=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name:format=duration \
	-of default=noprint_wrappers=1 "$input" 2>&1) ||
	{ echo "$me: --input $input: not a video ffprobe can read: $probe" >&2; exit 2; }
grep -q '^codec_name=' <<<"$probe" || { echo "$me: --input $input: no video stream" >&2; exit 2; }
duration=$(sed -n 's/^duration=\([0-9.]*\)$/\1/p' <<<"$probe")
mkdir -p "$outdir" || { echo "$me: --output-dir $outdir: cannot create it" >&2; exit 2; }
rm -f "$outdir"/frame-[0-9]*.jpg "$outdir"/frame-[0-9]*.png "$outdir/keyframes.tsv"
status ready

if [[ -n $every ]]; then
	filter="fps=1/$every"
elif [[ -n $scene ]]; then
	filter="select='eq(n\\,0)+gt(scene\\,$scene)'"
else
	filter="select='eq(pict_type\\,I)'"
fi
[[ -z $width ]] || filter+=",scale=$width:-2"
filter+=",showinfo"
args=(-nostdin -hide_banner -nostats -loglevel level+info)
[[ -z $hwaccel ]] || args+=(-hwaccel "$hwaccel")
args+=(-i "$input" -vf "$filter" -fps_mode vfr -progress pipe:1 -y)
[[ $format == png ]] || args+=(-q:v 2)
log=$outdir/.ffmpeg.log

# ffmpeg's -progress lines carry out_time_us; one protocol line per percent.
last=-1
while IFS='=' read -r key value; do
	[[ $key == out_time_us && -n $duration && $value =~ ^[0-9]+$ ]] || continue
	pct=$(awk -v t="$value" -v d="$duration" 'BEGIN { p = int(t / (d * 1e6) * 100); print (p > 99 ? 99 : p) }')
	if ((pct > last)); then
		status "progress $(awk -v p="$pct" 'BEGIN { printf "%.2f", p / 100 }')"
		last=$pct
	fi
done < <(ffmpeg "${args[@]}" "$outdir/frame-%05d.$format" 2>"$log"; echo "rc=$?" >"$log.rc")
rc=$(sed -n 's/^rc=//p' "$log.rc" 2>/dev/null)
if [[ ${rc:-1} != 0 ]]; then
	echo "$me: ffmpeg failed (exit ${rc:-?}) on $input:" >&2
	grep -v '^\[info\]' "$log" | tail -20 >&2
	rm -f "$log.rc"
	exit 1
fi

# The index: showinfo logs each frame the filter passed, in order.
n=0
{
	printf 'file\ttime_sec\n'
	while read -r t; do
		n=$((n + 1))
		printf 'frame-%05d.%s\t%s\n' "$n" "$format" "$t"
	done < <(sed -n 's/.*Parsed_showinfo.* n: *[0-9]* .*pts_time:\([-0-9.e]*\) .*/\1/p' "$log")
} >"$outdir/keyframes.tsv"
rm -f "$log" "$log.rc"
files=$(find "$outdir" -maxdepth 1 -name "frame-[0-9]*.$format" | wc -l)
if ((files == 0)); then
	echo "$me: no frame extracted from $input" >&2
	exit 1
fi
if ((files != n)); then
	echo "$me: ffmpeg wrote $files frames but logged $n; keyframes.tsv may be off" >&2
fi
status "progress 1"
echo "keyframes: $files frames of $input in $outdir (index: $outdir/keyframes.tsv)"
