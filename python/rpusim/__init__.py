from rpusim._native import Tile
