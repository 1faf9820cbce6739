// Donor translation unit for the shared precompiled header (see cmake/chord_pch.hpp).
