// typenet/viz/viz.hpp - all of typenet's images (PNG through libstb-dev's
// stb_image_write). Not part of typenet.hpp, so users who never draw do not
// need stb installed.
#pragma once

#include "confusion.hpp"
#include "curves.hpp"
#include "font.hpp"
#include "image.hpp"
#include "maps.hpp"
#include "maximize.hpp"
#include "png.hpp"
