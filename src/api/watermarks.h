// Placeholder until the watermarks transformations land; included by api/data_stream.h.
#pragma once
#include "api/data_stream.h"
