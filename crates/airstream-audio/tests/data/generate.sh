#!/bin/sh
# Regenerates the committed audio fixtures of airstream-audio's tests.
# Needs python3, ffmpeg (with libopus), flac, lame, oggenc and vorbiscomment. Tests never run
# this; they read the committed outputs. The PCM sources are generated deterministically by
# gen_pcm.py; encoders may change their bytes between versions, so a rerun can differ slightly
# (the tests compare lossless files against music.wav and lossy files only against themselves).
set -eu
cd "$(dirname "$0")"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FF="ffmpeg -hide_banner -loglevel error -y -bitexact -fflags +bitexact"
GEN="python3 gen_pcm.py"

# --- PCM sources ---------------------------------------------------------------------------
$GEN music music.wav 44100 s16 2 1.5              # the reference: 44.1 kHz/16-bit/stereo
$GEN music music_s24.wav 44100 s24 2 0.5
$GEN music music_s32.wav 44100 s32 2 0.5
$GEN music music_u8.wav 44100 u8 2 0.5
$GEN music music_f32.wav 44100 f32 2 0.5
$GEN music music_f64.wav 44100 f64 2 0.25
$GEN music music_mono.wav 44100 s16 1 0.5
$GEN music "$TMP/music48k_s24.wav" 48000 s24 2 1.0
$GEN music "$TMP/music6.wav" 44100 s16 6 0.25
$GEN sine sine1k_48k.wav 48000 s16 1000 0.5 -1
$GEN sine sine1k_96k.wav 96000 s16 1000 0.5 -1

# WAVE_FORMAT_EXTENSIBLE: ffmpeg writes it for more than two channels and for float.
$FF -i "$TMP/music6.wav" -channel_layout 5.1 -c:a pcm_s16le music_5ch1_ext.wav
$FF -i music_s24.wav -t 0.25 -c:a pcm_f32le -rf64 never music_f32_ext.wav

# --- compressed formats made from the reference ----------------------------------------------
flac -s -f -8 --no-padding -o music.flac music.wav
flac -s -f -8 --no-padding -o music_s24_48k.flac "$TMP/music48k_s24.wav"
$FF -i music.wav -c:a alac -movflags +faststart music_alac.m4a
$FF -i music.wav -t 0.75 -c:a pcm_s16be music.aiff   # first 0.75 s
lame --quiet --noreplaygain -b 128 music.wav music.mp3
oggenc --quiet -q 4 -o music.ogg music.wav
$FF -i music.wav -c:a aac -b:a 128k -movflags +faststart music_aac.m4a
$FF -i music.wav -t 0.5 -c:a aac -b:a 96k music_moov_at_end.m4a   # no faststart: moov last

# --- formats we detect but do not decode ------------------------------------------------------
$FF -i music.wav -t 0.5 -c:a libopus -b:a 48k music.opus
$FF -i music.wav -t 0.5 -c:a wmav2 -b:a 64k music.wma

# --- tagged files: title/artist/album and cover art -------------------------------------------
$FF -f lavfi -i testsrc=size=48x48:rate=1 -frames:v 1 -q:v 5 cover.jpg
$FF -f lavfi -i testsrc2=size=48x48:rate=1 -frames:v 1 cover.png
$FF -i music.wav -t 0.5 "$TMP/short.wav"
TITLE="Test Tone Suite"
ARTIST="The Fixtures"
ALBUM="Airstream Samples"

lame --quiet --noreplaygain -b 96 --id3v2-only --tt "$TITLE" --ta "$ARTIST" --tl "$ALBUM" \
    --ti cover.jpg "$TMP/short.wav" tagged.mp3
flac -s -f --no-padding -T "TITLE=$TITLE" -T "ARTIST=$ARTIST" -T "ALBUM=$ALBUM" \
    --picture="3||front cover||cover.png" -o tagged.flac "$TMP/short.wav"
oggenc --quiet -q 2 -t "$TITLE" -a "$ARTIST" -l "$ALBUM" -o tagged.ogg "$TMP/short.wav"
# Vorbis comments carry art as a base64 FLAC picture block (METADATA_BLOCK_PICTURE).
python3 - cover.jpg image/jpeg > "$TMP/picture.txt" <<'PY'
import base64, struct, sys
data = open(sys.argv[1], "rb").read()
mime = sys.argv[2].encode()
block = struct.pack(">II", 3, len(mime)) + mime + struct.pack(">I", 0) \
    + struct.pack(">IIIII", 48, 48, 24, 0, len(data)) + data
print("METADATA_BLOCK_PICTURE=" + base64.b64encode(block).decode())
PY
vorbiscomment -a -c "$TMP/picture.txt" tagged.ogg
$FF -i "$TMP/short.wav" -i cover.png -map 0:a -map 1:v -c:a aac -b:a 96k -c:v copy \
    -disposition:v attached_pic -metadata title="$TITLE" -metadata artist="$ARTIST" \
    -metadata album="$ALBUM" -movflags +faststart tagged_aac.m4a
$FF -i "$TMP/short.wav" -i cover.jpg -map 0:a -map 1:v -c:a alac -c:v copy \
    -disposition:v attached_pic -metadata title="$TITLE" -metadata artist="$ARTIST" \
    -metadata album="$ALBUM" -movflags +faststart tagged_alac.m4a
$FF -i "$TMP/short.wav" -metadata title="$TITLE" -metadata artist="$ARTIST" \
    -metadata album="$ALBUM" -t 0.25 -c:a pcm_s16le tagged.wav

# --- bad inputs -------------------------------------------------------------------------------
: > empty.mp3
head -c "$(( $(wc -c < music.flac) * 2 / 5 ))" music.flac > truncated.flac
head -c "$(( $(wc -c < music.mp3) * 2 / 5 ))" music.mp3 > truncated.mp3
head -c "$(( $(wc -c < music.wav) * 2 / 5 ))" music.wav > truncated.wav
# Overwrite 1.5 kB in the middle with a fixed pseudo-random pattern.
python3 - <<'PY'
import random
rng = random.Random(7)
for src, dst in (("music.mp3", "corrupt.mp3"), ("music.flac", "corrupt.flac")):
    data = bytearray(open(src, "rb").read())
    mid = len(data) // 2
    data[mid:mid + 1500] = bytes(rng.randrange(256) for _ in range(1500))
    open(dst, "wb").write(data)
PY
printf 'This is a plain text file, not audio.\nIt was renamed to .mp3 by mistake.\n' > text.mp3

ls -l
