// A small demo catalog, added once on first start (CATALOG_SEED_DEMO=false turns it off).
import type { ServiceDb } from '../../kit/index.ts'
import type { CatalogContract } from './contract.ts'
import { createProduct, type NewProduct } from './products.ts'

const demo: NewProduct[] = [
  {
    id: 'prod-keyboard',
    name: 'Mechanical Keyboard',
    description: 'Tenkeyless keyboard with hot-swappable tactile switches',
    price: '89.00',
    category: 'peripherals',
    stock: 40,
  },
  {
    id: 'prod-mouse',
    name: 'Wireless Mouse',
    description: 'Ergonomic wireless mouse with a silent click',
    price: '29.99',
    category: 'peripherals',
    stock: 120,
  },
  {
    id: 'prod-monitor',
    name: '27" 4K Monitor',
    description: 'IPS panel, USB-C power delivery, height-adjustable stand',
    price: '349.00',
    category: 'displays',
    stock: 15,
  },
  {
    id: 'prod-webcam',
    name: 'HD Webcam',
    description: '1080p webcam with a privacy shutter and stereo microphones',
    price: '59.50',
    category: 'peripherals',
    stock: 60,
  },
  {
    id: 'prod-headset',
    name: 'Noise-Cancelling Headset',
    description: 'Over-ear wireless headset with active noise cancelling',
    price: '149.00',
    category: 'audio',
    stock: 25,
  },
  {
    id: 'prod-speaker',
    name: 'Desk Speakers',
    description: 'A pair of compact powered speakers',
    price: '79.00',
    category: 'audio',
    stock: 30,
  },
  {
    id: 'prod-hub',
    name: 'USB-C Hub',
    description: 'Seven ports: HDMI, Ethernet, SD card and USB',
    price: '39.90',
    category: 'accessories',
    stock: 200,
  },
  {
    id: 'prod-stand',
    name: 'Laptop Stand',
    description: 'Aluminium stand that lifts a laptop to eye level',
    price: '34.00',
    category: 'accessories',
    stock: 80,
  },
  {
    id: 'prod-lamp',
    name: 'Desk Lamp',
    description: 'Dimmable LED lamp with adjustable colour temperature',
    price: '45.00',
    category: 'accessories',
    stock: 3,
  },
  {
    id: 'prod-chair',
    name: 'Office Chair',
    description: 'Mesh chair with lumbar support and adjustable armrests',
    price: '259.00',
    category: 'furniture',
    stock: 8,
  },
]

export async function seedDemoCatalog(db: ServiceDb<CatalogContract>): Promise<number> {
  return db.transaction(async (tx) => {
    const first = await tx.query(
      `insert into seeds (name) values ('demo-catalog') on conflict do nothing returning name`,
    )
    if (first.length === 0) return 0
    for (const product of demo) await createProduct(tx, product)
    return demo.length
  })
}
